FROM busybox
SHELL
