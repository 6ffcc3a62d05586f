FROM busybox
ENV a=x\ y b=\$HOME c='$a' d="$a\"q"
RUN echo "[$a][$b][$c][$d]"
