ARG A=${x
FROM busybox
