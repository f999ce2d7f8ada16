package whisk

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a failure that reaches a client: an HTTP status and the message
// OpenWhisk uses for the case. Validation in this package returns *Error so
// that the controller can answer with the right status without guessing.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// StatusOf returns the HTTP status carried by err, or 500 when err carries none.
func StatusOf(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Status
	}
	return http.StatusInternalServerError
}

// Messages OpenWhisk clients see (ErrorResponse.scala and friends). They are
// kept word for word: scripts and tests match on them.
const (
	MsgNotFound               = "The requested resource does not exist."
	MsgUnauthorized           = "The supplied authentication is not authorized to access this resource."
	MsgAuthInvalid            = "The supplied authentication is invalid"
	MsgAuthMissing            = "The resource requires authentication, which was not supplied with the request"
	MsgConflict               = "resource already exists"
	MsgConcurrentUpdate       = "Concurrent modification to resource detected."
	MsgNotInCollection        = "Resource by this name exists but is not in this collection."
	MsgEntityNameIllegal      = "The name of the entity contains illegal characters."
	MsgPackageNameReserved    = "Package name 'default' is reserved."
	MsgNotAllowedParams       = "Request defines parameters that are not allowed (e.g., reserved properties)."
	MsgInvalidTimeout         = "Timeout must be number of milliseconds up to 60000."
	MsgActivationIDInvalid    = "The activation id is not valid."
	MsgDocsNotWithCount       = "The parameter 'docs' is not permitted with 'count'."
	MsgOverloaded             = "System is overloaded, try again later."
	MsgInternal               = "Internal server error."
	MsgMalformed              = "The request content was malformed:\n"
	MsgUnsupportedMediaType   = "The request's Content-Type is not supported. Expected one of: application/json"
	MsgMethodNotAllowed       = "HTTP method not allowed, supported methods: "
	MsgTimedOut               = "The action exceeded its time limits of %d milliseconds."
	MsgTimedOutInit           = "The action exceeded its time limits of %d milliseconds during initialization."
	MsgMemoryExhausted        = "The action exhausted its memory and was aborted."
	MsgAbnormalInit           = "The action did not initialize and exited unexpectedly."
	MsgAbnormalRun            = "The action did not produce a valid response and exited unexpectedly."
	MsgInvalidRunResponse     = "The action did not produce a valid JSON or JSON Array response: %s"
	MsgNotDictionary          = "The action did not return a dictionary or array."
	MsgInitFailed             = "The action failed during initialization: %s"
	MsgLogsMissing            = "The action did not initialize or run as expected. Log data might be missing."
	MsgLogsTruncated          = "Logs were truncated because the total bytes size exceeds the limit of %d bytes."
	MsgResultTooLarge         = "The action produced a response that exceeded the allowed length: %d > %d bytes. The truncated response was: %s"
	MsgRequestTooLarge        = "Request larger than allowed: %d > %d bytes."
	MsgTooManyPerMinute       = "Too many requests in the last minute (count: %d, allowed: %d)."
	MsgTooManyConcurrent      = "Too many concurrent requests in flight (count: %d, allowed: %d)."
	MsgUnsupportedRuntime     = "The specified runtime '%s' is not supported by this platform. Valid values are: %s."
	MsgNameTooLong            = "Name segement longer than allowed: %d > %d bytes."
	MsgListLimitRange         = "The value '%s' is not in the range of 0 to %d for %s."
	MsgNotNamespaceAuthorize  = "The supplied authentication is not authorized to access '%s'."
	MsgSequenceTooLong        = "Too many actions in the sequence."
	MsgSequenceEmpty          = "No component specified for the sequence."
	MsgSequenceSelf           = "Sequence may not refer to itself."
	MsgSequenceMissing        = "Sequence component does not exist."
	MsgActivationLogsSentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
)

// MsgStoreUnavailable is Whirl's own message (OpenWhisk has none): the
// store cannot write now, say because its disk is full. It is answered
// with 503 so that callers retry.
const MsgStoreUnavailable = "The system cannot store data at the moment, try again later."

// NotFound is the 404 every missing entity answers with.
func NotFound() *Error { return &Error{Status: http.StatusNotFound, Message: MsgNotFound} }

// BadRequest returns a 400 with msg.
func BadRequest(msg string) *Error { return &Error{Status: http.StatusBadRequest, Message: msg} }

// Malformed returns OpenWhisk's 400 for a body that decodes but breaks a
// requirement: "The request content was malformed:\nrequirement failed: ...".
func Malformed(format string, args ...any) *Error {
	return BadRequest(MsgMalformed + "requirement failed: " + fmt.Sprintf(format, args...))
}

// Messages of triggers, rules and packages (C/Rules.scala, C/Packages.scala,
// C/Triggers.scala).
const (
	MsgRuleInvalid        = "rule requires a valid trigger and a valid action"
	MsgRuleTriggerMissing = "Only rules with existing triggers can be activated"
	MsgRuleInactive       = "Rule '%s' is inactive, action '%s' was not activated."
	MsgBindingMissing     = "Binding references a package that does not exist."
	MsgBindingToBinding   = "Cannot bind to another package binding."
	MsgBindingNotPackage  = "Cannot bind to a resource that is not a package."
	MsgPackageToBinding   = "Resource is a package and cannot be converted into a binding."
	MsgBindingCircular    = "Package binding '%s' contains a circular reference."
	MsgBindingReadOnly    = "Operation not permitted on package binding."
	MsgPackageNotEmpty    = "Package not empty (contains %d %s). Set force param or delete package contents."
	MsgSequenceFailed     = "Sequence failed."
	MsgSequenceTimeout    = "Timeout reached when retrieving activation %s for sequence component."
	MsgStatusInvalid      = "status must be one of active or inactive"
	MsgTriggerInPackage   = "Triggers and rules cannot be placed in packages."
)

// Messages of web actions (C/WebActions.scala, MSG).
const (
	MsgWebNotReady         = "Response not yet ready."
	MsgWebProcessingError  = "There was an error processing your request."
	MsgWebInvalidMedia     = "Response is not valid '%s'."
	MsgWebContentTypeError = "Response type in header did not match generated content type."
	MsgWebUnknownContent   = "Response did not specify a known content-type."
	MsgWebPropertyNotFound = "Response does not include requested property."
	MsgWebMethodNotAllowed = "The web action does not answer the method %s."
	MsgWebAuthRequired     = "The resource requires authentication, which was not supplied with the request"
)
