package whisk

// Reason says what ended an activation, as a value the controller can
// switch on: the record's status code says who is to blame, the reason
// what happened. The invoker sets it on each completion; nothing compares
// messages.
type Reason string

// The reasons an activation ends.
const (
	ReasonSuccess          Reason = "success"
	ReasonApplicationError Reason = "application error" // the action answered {"error": …}
	ReasonDeveloperError   Reason = "developer error"   // bad code, failed init, abnormal exit
	ReasonTimeout          Reason = "timeout"           // init or run went past the action's limit
	ReasonMemory           Reason = "memory"            // the container went past its memory limit
	ReasonWhiskError       Reason = "whisk error"       // the system failed
	// ReasonOverloaded: no room in the container pool and its queue full;
	// nothing ran, and the caller may try again (503).
	ReasonOverloaded Reason = "overloaded"
	// ReasonNeverFits: the action needs more memory than the invoker's
	// whole container pool; it can never run there.
	ReasonNeverFits Reason = "never fits"
	// ReasonUnstored: the activation ran but its record could not be
	// stored (the store refuses writes); the caller may try again (503).
	ReasonUnstored Reason = "unstored"
)

// ReasonOf is the plain reason of a status code, for records whose end
// has nothing more to say (a sequence, a built-in action).
func ReasonOf(status int) Reason {
	switch status {
	case StatusSuccess:
		return ReasonSuccess
	case StatusApplicationError:
		return ReasonApplicationError
	case StatusDeveloperError:
		return ReasonDeveloperError
	}
	return ReasonWhiskError
}

// Retryable reports whether an activation that ended for r never
// completed through no fault of the action, so that a blocking caller is
// told to try again (503) rather than given the record.
func (r Reason) Retryable() bool { return r == ReasonOverloaded || r == ReasonUnstored }
