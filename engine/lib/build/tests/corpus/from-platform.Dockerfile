FROM --platform=linux/amd64 busybox
