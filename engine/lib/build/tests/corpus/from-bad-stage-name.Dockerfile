FROM busybox AS 1x
