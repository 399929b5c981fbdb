"""The interaction aggregate: state, lifecycle, event-time ordering, TMF683 rendering."""
