# Post-incident reviews and action items live here (see DESIGN.md, "reviews").
