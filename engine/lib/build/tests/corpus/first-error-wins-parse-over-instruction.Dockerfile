FROM busybox
FOO
ENV a
