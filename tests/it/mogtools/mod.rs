//! mogadm, the MogileFS client library and the file tools (mogupload,
//! mogfetch, ...) against a live tracker and storage nodes.
