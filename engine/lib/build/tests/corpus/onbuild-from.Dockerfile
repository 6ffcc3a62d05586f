FROM busybox
ONBUILD from x
