FROM busybox
foo bar
