ARG V=latest
ARG B=busy
FROM ${B}box:$V
ARG V
RUN echo $V
