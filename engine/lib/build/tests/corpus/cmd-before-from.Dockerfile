CMD x
FROM busybox
