package feeds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/whirlfaas/whirl/internal/store"
	"github.com/whirlfaas/whirl/whisk"
)

// The feeds of the alarms package.
const (
	FeedAlarm    = "alarm"
	FeedInterval = "interval"
	FeedOnce     = "once"
)

// Schedule is a stored alarm: what to fire, when, and the last tick fired.
// Times are epoch milliseconds; zero means unset.
type Schedule struct {
	Feed            string          `json:"feed"`
	Trigger         string          `json:"triggerName"` // "/ns/name"
	AuthKey         string          `json:"authKey"`
	Cron            string          `json:"cron,omitempty"`
	Timezone        string          `json:"timezone,omitempty"`
	Minutes         int             `json:"minutes,omitempty"`
	Date            int64           `json:"date,omitempty"`
	StartDate       int64           `json:"startDate,omitempty"`
	StopDate        int64           `json:"stopDate,omitempty"`
	Payload         json.RawMessage `json:"trigger_payload,omitempty"`
	DeleteAfterFire string          `json:"deleteAfterFire,omitempty"`
	Created         int64           `json:"created"`
	Changed         int64           `json:"changed"`
	LastTick        int64           `json:"lastTick,omitempty"`

	cron cron.Schedule
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// compile parses the cron expression of an alarm.
func (sc *Schedule) compile() error {
	if sc.Feed != FeedAlarm {
		return nil
	}
	tz := sc.Timezone
	if tz == "" {
		tz = "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("timezone parameter '%s' is not a valid time zone", sc.Timezone)
	}
	if strings.Contains(sc.Cron, "TZ=") {
		return fmt.Errorf("cron pattern '%s' is not valid: use the timezone parameter", sc.Cron)
	}
	s, err := cronParser.Parse("CRON_TZ=" + tz + " " + sc.Cron)
	if err != nil {
		return fmt.Errorf("cron pattern '%s' is not valid: %v", sc.Cron, err)
	}
	sc.cron = s
	return nil
}

// next returns the first tick strictly after after, and false when the
// schedule has no tick left.
func (sc *Schedule) next(after time.Time) (time.Time, bool) {
	if sc.StartDate != 0 {
		if start := time.UnixMilli(sc.StartDate); after.Before(start) {
			after = start.Add(-time.Millisecond)
		}
	}
	var t time.Time
	switch sc.Feed {
	case FeedOnce:
		if sc.LastTick != 0 {
			return time.Time{}, false
		}
		return time.UnixMilli(sc.Date), true
	case FeedInterval:
		base := time.UnixMilli(sc.StartDate)
		if sc.StartDate == 0 {
			base = time.UnixMilli(sc.Created)
		}
		period := time.Duration(sc.Minutes) * time.Minute
		t = base
		if !t.After(after) {
			k := after.Sub(base)/period + 1
			t = base.Add(k * period)
		}
	case FeedAlarm:
		if sc.cron == nil {
			return time.Time{}, false
		}
		t = sc.cron.Next(after)
		if t.IsZero() {
			return t, false
		}
	default:
		return time.Time{}, false
	}
	if sc.StopDate != 0 && t.After(time.UnixMilli(sc.StopDate)) {
		return time.Time{}, false
	}
	return t, true
}

// feedParams are the parameters a feed action receives.
type feedParams struct {
	LifecycleEvent  string          `json:"lifecycleEvent"`
	TriggerName     string          `json:"triggerName"`
	AuthKey         string          `json:"authKey"`
	Cron            *string         `json:"cron"`
	Timezone        *string         `json:"timezone"`
	Minutes         json.RawMessage `json:"minutes"`
	Date            json.RawMessage `json:"date"`
	StartDate       json.RawMessage `json:"startDate"`
	StopDate        json.RawMessage `json:"stopDate"`
	Payload         json.RawMessage `json:"trigger_payload"`
	DeleteAfterFire json.RawMessage `json:"deleteAfterFire"`
}

// appError is a failure the feed's caller made: it becomes an
// application error with {"error": message}.
type appError string

func (e appError) Error() string { return string(e) }

// RunBuiltin runs the feed action name (alarm, interval, once) with
// params: the feed lifecycle (CREATE, READ, UPDATE, DELETE, PAUSE,
// UNPAUSE) as docs/feeds.md describes it.
// env (the action container's __OW_* variables) is not used: the
// feed authenticates the authKey parameter. Feeds write no logs.
func (s *Service) RunBuiltin(ctx context.Context, name string, env map[string]string, params json.RawMessage) (json.RawMessage, []string, bool, error) {
	res, err := s.lifecycle(ctx, name, params)
	var ae appError
	if errors.As(err, &ae) {
		b, _ := json.Marshal(map[string]string{"error": string(ae)})
		return b, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	b, err := json.Marshal(res)
	return b, nil, true, err
}

func (s *Service) lifecycle(ctx context.Context, feed string, params json.RawMessage) (any, error) {
	if feed != FeedAlarm && feed != FeedInterval && feed != FeedOnce {
		return nil, fmt.Errorf("unknown builtin action %q", feed)
	}
	var p feedParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, appError("parameters are not valid: " + err.Error())
	}
	if p.LifecycleEvent == "" {
		return nil, appError("no lifecycleEvent parameter: this is a feed action, used by trigger create --feed")
	}
	if p.AuthKey == "" {
		return nil, appError("no authKey parameter was provided")
	}
	if s.cfg.Authenticate == nil {
		return nil, errors.New("feeds: no authenticator")
	}
	ns, err := s.cfg.Authenticate(ctx, p.AuthKey)
	if err != nil {
		return nil, appError("the authKey parameter does not authenticate")
	}
	key, trigger, err := triggerKey(p.TriggerName, ns)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(p.LifecycleEvent) {
	case "CREATE":
		sc, err := buildSchedule(feed, &p, nil, s.cfg.Now())
		if err != nil {
			return nil, err
		}
		sc.Trigger, sc.AuthKey = trigger, p.AuthKey
		rev, err := s.put(ctx, key, sc, 0)
		if errors.Is(err, store.ErrConflict) {
			return nil, appError(fmt.Sprintf("trigger %s already has a feed", trigger))
		}
		if err != nil {
			return nil, err
		}
		s.run(key, *sc, rev)
		return map[string]any{}, nil
	case "READ":
		sc, _, err := s.load(ctx, key, feed)
		if err != nil {
			return nil, err
		}
		return describe(sc), nil
	case "UPDATE":
		old, rev, err := s.load(ctx, key, feed)
		if err != nil {
			return nil, err
		}
		sc, err := buildSchedule(feed, &p, old, s.cfg.Now())
		if err != nil {
			return nil, err
		}
		sc.AuthKey = p.AuthKey
		s.stop(key)
		rev, err = s.put(ctx, key, sc, rev)
		if err != nil {
			return nil, err
		}
		s.run(key, *sc, rev)
		return map[string]any{}, nil
	case "DELETE":
		s.stop(key)
		if err := s.cfg.Entities.Delete(ctx, store.Feeds, Namespace, key, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return map[string]any{}, nil
	case "PAUSE", "UNPAUSE":
		return nil, appError(fmt.Sprintf("lifecycleEvent %s is not supported", p.LifecycleEvent))
	}
	return nil, appError(fmt.Sprintf("lifecycleEvent '%s' is not one of CREATE, READ, UPDATE, DELETE", p.LifecycleEvent))
}

// triggerKey resolves "/ns/name" (or "/_/name") against the key's
// namespace and returns the schedule's key and the trigger's name.
func triggerKey(name, ns string) (string, string, error) {
	if name == "" {
		return "", "", appError("no triggerName parameter was provided")
	}
	parts := strings.Split(strings.Trim(name, "/"), "/")
	switch len(parts) {
	case 1:
		parts = []string{ns, parts[0]}
	case 2:
		if parts[0] == whisk.DefaultNamespace {
			parts[0] = ns
		}
	default:
		return "", "", appError(fmt.Sprintf("triggerName '%s' is not a trigger name", name))
	}
	if parts[0] != ns {
		return "", "", appError(fmt.Sprintf("the authKey is not authorized for trigger '%s'", name))
	}
	if err := whisk.ValidateName(parts[1]); err != nil {
		return "", "", appError(fmt.Sprintf("triggerName '%s' is not a trigger name", name))
	}
	return parts[0] + "/" + parts[1], "/" + parts[0] + "/" + parts[1], nil
}

func (s *Service) load(ctx context.Context, key, feed string) (*Schedule, int64, error) {
	e, err := s.cfg.Entities.Get(ctx, store.Feeds, Namespace, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, appError(fmt.Sprintf("could not find a %s feed for trigger /%s", feed, key))
	}
	if err != nil {
		return nil, 0, err
	}
	var sc Schedule
	if err := json.Unmarshal(e.Doc, &sc); err != nil {
		return nil, 0, err
	}
	if sc.Feed != feed {
		return nil, 0, appError(fmt.Sprintf("trigger /%s has a %s feed, not %s", key, sc.Feed, feed))
	}
	return &sc, e.Rev, nil
}

// describe answers READ as the alarms provider does: the configuration
// (without the key) and the status.
func describe(sc *Schedule) map[string]any {
	cfg := map[string]any{"name": sc.Trigger}
	if sc.Cron != "" {
		cfg["cron"] = sc.Cron
	}
	if sc.Timezone != "" {
		cfg["timezone"] = sc.Timezone
	}
	if sc.Minutes != 0 {
		cfg["minutes"] = sc.Minutes
	}
	if sc.Date != 0 {
		cfg["date"] = time.UnixMilli(sc.Date).UTC().Format(time.RFC3339Nano)
	}
	if sc.StartDate != 0 {
		cfg["startDate"] = time.UnixMilli(sc.StartDate).UTC().Format(time.RFC3339Nano)
	}
	if sc.StopDate != 0 {
		cfg["stopDate"] = time.UnixMilli(sc.StopDate).UTC().Format(time.RFC3339Nano)
	}
	if len(sc.Payload) > 0 {
		cfg["trigger_payload"] = sc.Payload
	}
	if sc.DeleteAfterFire != "" {
		cfg["deleteAfterFire"] = sc.DeleteAfterFire
	}
	status := map[string]any{"active": true, "dateChanged": sc.Changed,
		"dateChangedISO": time.UnixMilli(sc.Changed).UTC().Format(time.RFC3339Nano)}
	if sc.LastTick != 0 {
		status["lastFired"] = sc.LastTick
	}
	return map[string]any{"config": cfg, "status": status}
}

// buildSchedule validates the parameters of a CREATE (old nil) or an
// UPDATE (old: the stored schedule, changed by the parameters given).
func buildSchedule(feed string, p *feedParams, old *Schedule, now time.Time) (*Schedule, error) {
	sc := &Schedule{Feed: feed, Created: now.UnixMilli()}
	if old != nil {
		c := *old
		sc = &c
		sc.LastTick = 0
	}
	sc.Changed = now.UnixMilli()
	var err error
	if p.Cron != nil {
		sc.Cron = *p.Cron
	}
	if p.Timezone != nil {
		sc.Timezone = *p.Timezone
	}
	if len(p.Payload) > 0 && !isNull(p.Payload) {
		if bytes.TrimSpace(p.Payload)[0] == '"' {
			// The alarms provider accepts the payload as a JSON string.
			var s string
			_ = json.Unmarshal(p.Payload, &s)
			p.Payload = json.RawMessage(s)
		}
		if !json.Valid(p.Payload) || bytes.TrimSpace(p.Payload)[0] != '{' {
			return nil, appError("trigger_payload parameter must be a JSON object")
		}
		sc.Payload = p.Payload
	}
	if present(p.StartDate) {
		if sc.StartDate, err = parseDate("startDate", p.StartDate); err != nil {
			return nil, err
		}
		if !time.UnixMilli(sc.StartDate).After(now) {
			return nil, appError(fmt.Sprintf("startDate parameter '%s' must be in the future", raw(p.StartDate)))
		}
	}
	if present(p.StopDate) {
		if sc.StopDate, err = parseDate("stopDate", p.StopDate); err != nil {
			return nil, err
		}
		if !time.UnixMilli(sc.StopDate).After(now) {
			return nil, appError(fmt.Sprintf("stopDate parameter '%s' must be in the future", raw(p.StopDate)))
		}
	}
	if sc.StartDate != 0 && sc.StopDate != 0 && sc.StopDate <= sc.StartDate {
		return nil, appError("stopDate parameter must be after the startDate")
	}
	switch feed {
	case FeedAlarm:
		if sc.Cron == "" {
			return nil, appError("alarms trigger feed is missing the cron parameter")
		}
		if n := len(strings.Fields(sc.Cron)); (n != 5 && n != 6) && !strings.HasPrefix(sc.Cron, "@") {
			return nil, appError(fmt.Sprintf("cron pattern '%s' is not valid: it must have 5 fields, or 6 with seconds", sc.Cron))
		}
		if err := sc.compile(); err != nil {
			return nil, appError(err.Error())
		}
	case FeedInterval:
		if present(p.Minutes) {
			n, err := strconv.Atoi(raw(p.Minutes))
			if err != nil || n < 1 {
				return nil, appError(fmt.Sprintf("minutes parameter '%s' must be a positive integer", raw(p.Minutes)))
			}
			sc.Minutes = n
		}
		if sc.Minutes == 0 {
			return nil, appError("interval trigger feed is missing the minutes parameter")
		}
		if old != nil && sc.StartDate == 0 {
			sc.Created = now.UnixMilli() // an update starts the interval over
		}
	case FeedOnce:
		if present(p.Date) {
			if sc.Date, err = parseDate("date", p.Date); err != nil {
				return nil, err
			}
			if !time.UnixMilli(sc.Date).After(now) {
				return nil, appError(fmt.Sprintf("date parameter '%s' must be in the future", raw(p.Date)))
			}
		}
		if sc.Date == 0 {
			return nil, appError("once trigger feed is missing the date parameter")
		}
		if present(p.DeleteAfterFire) {
			v := strings.ToLower(raw(p.DeleteAfterFire))
			if v != "true" && v != "false" && v != "rules" {
				return nil, appError(fmt.Sprintf("deleteAfterFire parameter '%s' must be false, true or rules", raw(p.DeleteAfterFire)))
			}
			sc.DeleteAfterFire = v
		}
	}
	return sc, nil
}

func present(v json.RawMessage) bool { return len(v) > 0 && !isNull(v) }

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// raw returns a JSON string's content, or the JSON text of other values.
func raw(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(v))
}

// parseDate reads epoch milliseconds (a number or a numeric string) or an
// ISO-8601 date.
func parseDate(name string, v json.RawMessage) (int64, error) {
	s := raw(v)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return int64(f), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, appError(fmt.Sprintf("%s parameter '%s' is not a valid date", name, s))
}
