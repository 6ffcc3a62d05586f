FROM busybox
LABEL a=${b:-x
