package extensions

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
)

// Informer is the part of a ConfigMap informer that Watch uses.
type Informer interface {
	AddEventHandler(handler toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error)
}

// Watch reads the extensions of the ConfigMap namespace/name each time the
// informer delivers it, and hands them to set: a ConfigMap without the key
// Key, or deleted, holds none. set runs in the informer's goroutine and
// must not block. An event that leaves the ConfigMap's resourceVersion as
// it was (a resync) reads nothing.
func Watch(inf Informer, namespace, name string, set func(Result)) error {
	object := "ConfigMap " + namespace + "/" + name
	field := "data." + Key
	read := func(obj any, deleted bool) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj, deleted = d.Obj, true
		}
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok || cm.Namespace != namespace || cm.Name != name {
			return
		}
		if deleted {
			set(Result{})
			return
		}
		set(Parse(object, field, []byte(cm.Data[Key])))
	}
	_, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { read(obj, false) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.ConfigMap)
			n, ok2 := newObj.(*corev1.ConfigMap)
			if ok1 && ok2 && o.ResourceVersion == n.ResourceVersion {
				return
			}
			read(newObj, false)
		},
		DeleteFunc: func(obj any) { read(obj, true) },
	})
	if err != nil {
		return fmt.Errorf("watching ConfigMap %s/%s: %w", namespace, name, err)
	}
	return nil
}
