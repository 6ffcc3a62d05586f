FROM busybox
LABEL
