"""Love Bank (爱心银行): the channel-free application core."""
