FROM busybox
ENV x=1
LABEL "k$x"="v $x" 'q$x'=y
