FROM busybox
ARG --x y
