FROM busybox
ONBUILD maintainer x
