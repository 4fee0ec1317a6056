package store

import "context"

// CommitPostgresBatch commits rs as one batch of p's writer would and
// returns each report's outcome.
func CommitPostgresBatch(p *Postgres, rs []Report) ([]Result, []error) {
	reqs := make([]*insertReq, len(rs))
	for i, r := range rs {
		reqs[i] = &insertReq{ctx: context.Background(), r: r, done: make(chan struct{})}
	}
	p.commit(reqs)
	res, errs := make([]Result, len(rs)), make([]error, len(rs))
	for i, req := range reqs {
		<-req.done
		res[i], errs[i] = req.res, req.err
	}
	return res, errs
}
