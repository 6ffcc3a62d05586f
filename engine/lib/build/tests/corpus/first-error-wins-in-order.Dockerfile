FROM busybox
COPY x
FOO
