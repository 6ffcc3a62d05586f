# syntax=docker/dockerfile:1
FROM busybox
  cmd   ["sh"]   
ENV a=1 b="x y" \
  c=3
LABEL "k 1"=v  x=y
HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x || exit 1
EXPOSE 80 $a/udp 443
VOLUME /a /b
STOPSIGNAL SIGKILL
ARG q=1 r
SHELL ["/bin/sh", "-xc"]
ENTRYPOINT echo
ENTRYPOINT []
USER 1:1
MAINTAINER me <m@x>
ONBUILD RUN echo hi
WORKDIR x
RUN   echo  "$a"  \
 # comment

   && true
