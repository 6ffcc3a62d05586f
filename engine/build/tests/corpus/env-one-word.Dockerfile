FROM busybox
ENV a
