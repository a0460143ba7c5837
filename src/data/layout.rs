//! The folder layouts the loader accepts, as every "wrong folder" error quotes them.

/// The layouts we expect, quoted in every "wrong folder" error.
pub const LAYOUT_HELP: &str = "DIR/day/*.png|jpg and DIR/night/*.png|jpg (optionally DIR/places.csv with \
     columns file,place or file,easting,northing or file,lat,lon); DIR/database/ and DIR/queries/ with \
     @<easting>@<northing>@…@.jpg names (or a downloader's ROOT/images/<split>/); two frame-aligned \
     sequence folders (Nordland); or the RobotCar Seasons layout DIR/images/<condition>/<camera>/*.jpg";
