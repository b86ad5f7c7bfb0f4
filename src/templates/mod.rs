//! Handlebars templates per language, rendered with the client's brand.
