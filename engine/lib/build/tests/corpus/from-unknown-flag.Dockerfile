FROM --foo=1 busybox
