"""The sweep engine: plan a study, run and resume trials, reconcile lost ones, launch workers."""
