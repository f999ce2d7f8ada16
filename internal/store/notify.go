package store

import "context"

// Notifying returns es, whose Put and Delete call notify with the entity
// written once they return, whether or not they succeeded (telling of a
// write that failed is harmless: caches drop an entry and read it again).
// The controller drops its cached copy and tells the other controllers
// through it.
func Notifying(es Entities, notify func(ctx context.Context, coll, ns, key string)) Entities {
	return notifying{Entities: es, notify: notify}
}

type notifying struct {
	Entities
	notify func(ctx context.Context, coll, ns, key string)
}

func (e notifying) Put(ctx context.Context, ent Entity, rev int64) (int64, error) {
	n, err := e.Entities.Put(ctx, ent, rev)
	e.notify(ctx, ent.Collection, ent.Namespace, ent.Key)
	return n, err
}

func (e notifying) Delete(ctx context.Context, coll, ns, key string, rev int64) error {
	err := e.Entities.Delete(ctx, coll, ns, key, rev)
	e.notify(ctx, coll, ns, key)
	return err
}
