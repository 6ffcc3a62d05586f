FROM busybox
ENV a=${}
