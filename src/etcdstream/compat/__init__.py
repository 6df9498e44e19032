"""Drop-in APIs of other etcd clients on top of etcdstream: ``etcdstream.compat.etcd3`` is python-etcd3's."""
