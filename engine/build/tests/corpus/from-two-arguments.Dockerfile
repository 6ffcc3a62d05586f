FROM busybox foo
