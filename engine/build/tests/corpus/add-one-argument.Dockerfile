FROM busybox
ADD x
