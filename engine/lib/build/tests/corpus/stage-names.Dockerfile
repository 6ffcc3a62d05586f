FROM busybox As Foo.bar-1_x
FROM foo.bar-1_x
