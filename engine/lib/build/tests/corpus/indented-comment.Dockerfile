  # leading ws comment
FROM busybox
