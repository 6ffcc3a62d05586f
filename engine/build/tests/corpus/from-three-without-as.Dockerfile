FROM busybox to foo
