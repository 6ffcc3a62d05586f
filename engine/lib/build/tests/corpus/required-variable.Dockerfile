FROM busybox
ENV a=${b?oops}
