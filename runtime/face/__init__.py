"""The face: enrollment of one portrait photo and the real-time warp renderer."""
