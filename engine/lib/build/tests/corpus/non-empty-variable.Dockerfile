FROM busybox
ENV e=
VOLUME ${e:?}
