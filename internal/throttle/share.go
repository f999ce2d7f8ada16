package throttle

// Across controllers: a namespace's limits hold for the whole deployment,
// not per controller, by an even split. Each controller admits its share
// of each limit, ceil(limit / n), where n is the number of live
// controllers (WithShare; scale-out learns it from the controllers'
// heartbeats). The error bound, with n controllers:
//   - behind a load balancer that spreads a namespace's requests evenly
//     (round robin), the deployment admits at most limit + n - 1 per
//     minute (the rounding up) and at least limit - (n - 1) before the
//     first refusal;
//   - when a namespace's requests reach fewer controllers than n, it is
//     refused early: one controller alone admits ceil(limit / n);
//   - while n changes (a controller starting or dying, until the others
//     see it, one heartbeat timeout), each controller uses the n it
//     knows: at most n-1 shares too many, or too few, for that moment.
// A limit of 0 stays 0 and a negative limit stays unlimited.

// WithShare makes the Throttle enforce its share of every limit: ceil(limit
// / share()), share() being how many controllers split the limits (at
// least 1). It is called on every check and must be cheap.
func WithShare(share func() int) Option {
	return func(t *Throttle) { t.share = share }
}

// part is this controller's share of limit.
func (t *Throttle) part(limit int) int {
	if limit <= 0 || t.share == nil {
		return limit
	}
	n := t.share()
	if n <= 1 {
		return limit
	}
	return (limit + n - 1) / n
}
