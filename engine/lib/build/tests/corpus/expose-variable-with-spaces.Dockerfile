FROM busybox
ENV P="80 81/udp"
EXPOSE $P
