//! Images a PDF can carry as they are: JPEG (baseline or progressive, grey, RGB or CMYK) and
//! PNG (8 bits per channel, grey or RGB, not interlaced, no transparency), which is what a
//! letterhead logo usually is.
//!
//! Neither is decoded: a JPEG goes into the PDF as its own bytes (`DCTDecode`), a PNG as its
//! compressed pixel rows, which PDF's `FlateDecode` reads with the PNG predictors. This
//! module only reads the headers to learn the size and colours, and refuses what a PDF
//! could not show without decoding (transparency, palettes, 16-bit, interlacing).

use std::path::Path;

/// An image ready to embed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub colors: u8,
    pub encoding: ImageEncoding,
    /// The stream's bytes: the whole JPEG file, or the PNG's concatenated `IDAT` data.
    pub data: Vec<u8>,
}

/// How the image's bytes are written in the PDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageEncoding {
    Jpeg,
    Png,
}

/// Why an image cannot be embedded.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("not a JPEG or PNG file")]
    UnknownFormat,
    #[error("the {0} file is cut short or malformed")]
    Malformed(&'static str),
    #[error("{0}; save the logo as an 8-bit RGB or grey PNG without transparency, or a JPEG")]
    Unsupported(String),
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

impl Image {
    /// Reads an image file.
    pub fn load(path: &Path) -> Result<Image, ImageError> {
        let bytes = std::fs::read(path).map_err(|e| ImageError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Image::parse(&bytes).map_err(|e| ImageError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// An image from a file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Image, ImageError> {
        if bytes.starts_with(PNG_SIGNATURE) {
            parse_png(bytes)
        } else if bytes.starts_with(&[0xff, 0xd8]) {
            parse_jpeg(bytes)
        } else {
            Err(ImageError::UnknownFormat)
        }
    }

    /// The PDF colour space name.
    pub(crate) fn color_space(&self) -> &'static str {
        match self.colors {
            1 => "/DeviceGray",
            4 => "/DeviceCMYK",
            _ => "/DeviceRGB",
        }
    }
}

fn parse_png(bytes: &[u8]) -> Result<Image, ImageError> {
    let malformed = ImageError::Malformed("PNG");
    let mut at = PNG_SIGNATURE.len();
    let mut header = None;
    let mut data = Vec::new();
    while at + 8 <= bytes.len() {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let kind = &bytes[at + 4..at + 8];
        let body = bytes
            .get(at + 8..at + 8 + len)
            .ok_or_else(|| malformed.clone())?;
        match kind {
            b"IHDR" if body.len() == 13 => {
                let width = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let height = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                let (depth, color, interlace) = (body[8], body[9], body[12]);
                let colors = match color {
                    0 => 1,
                    2 => 3,
                    3 => return Err(ImageError::Unsupported("a PNG with a palette".into())),
                    4 | 6 => {
                        return Err(ImageError::Unsupported(
                            "a PNG with transparency (alpha channel)".into(),
                        ));
                    }
                    _ => return Err(malformed),
                };
                if depth != 8 {
                    return Err(ImageError::Unsupported(format!(
                        "a PNG of {depth} bits per channel"
                    )));
                }
                if interlace != 0 {
                    return Err(ImageError::Unsupported("an interlaced PNG".into()));
                }
                header = Some((width, height, colors));
            }
            b"tRNS" => {
                return Err(ImageError::Unsupported(
                    "a PNG with a transparent colour".into(),
                ));
            }
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        // Length, type, body, CRC.
        at += 12 + len;
    }
    let (width, height, colors) = header.ok_or_else(|| malformed.clone())?;
    if data.is_empty() || width == 0 || height == 0 {
        return Err(malformed);
    }
    Ok(Image {
        width,
        height,
        colors,
        encoding: ImageEncoding::Png,
        data,
    })
}

fn parse_jpeg(bytes: &[u8]) -> Result<Image, ImageError> {
    let malformed = ImageError::Malformed("JPEG");
    let mut at = 2;
    loop {
        // Markers may be padded with 0xff bytes.
        while bytes.get(at) == Some(&0xff) && bytes.get(at + 1) == Some(&0xff) {
            at += 1;
        }
        let (Some(&0xff), Some(&marker)) = (bytes.get(at), bytes.get(at + 1)) else {
            return Err(malformed);
        };
        at += 2;
        if marker == 0xd9 || marker == 0xda {
            // End of image, or the scan started before any frame header.
            return Err(malformed);
        }
        if (0xd0..=0xd7).contains(&marker) || marker == 0x01 {
            continue;
        }
        let len = match (bytes.get(at), bytes.get(at + 1)) {
            (Some(&hi), Some(&lo)) => usize::from(hi) << 8 | usize::from(lo),
            _ => return Err(malformed),
        };
        // Start of frame: baseline, extended, progressive (not the lossless or arithmetic
        // ones, which PDF readers do not all take).
        if matches!(marker, 0xc0..=0xc2) {
            let frame = bytes
                .get(at + 2..at + len)
                .ok_or_else(|| malformed.clone())?;
            if frame.len() < 6 {
                return Err(malformed);
            }
            let height = u32::from(frame[1]) << 8 | u32::from(frame[2]);
            let width = u32::from(frame[3]) << 8 | u32::from(frame[4]);
            let colors = frame[5];
            if !matches!(colors, 1 | 3 | 4) || width == 0 || height == 0 {
                return Err(malformed);
            }
            return Ok(Image {
                width,
                height,
                colors,
                encoding: ImageEncoding::Jpeg,
                data: bytes.to_vec(),
            });
        }
        if matches!(marker, 0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf) {
            return Err(ImageError::Unsupported(
                "a lossless or arithmetic-coded JPEG".into(),
            ));
        }
        at += len;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG of `width` × `height` RGB pixels of one colour, compressed with stored
    /// (uncompressed) deflate blocks, so tests need no zlib.
    pub(crate) fn solid_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
        // Each row: filter byte 0 (none), then the pixels.
        let row: Vec<u8> = std::iter::once(0)
            .chain((0..width).flat_map(|_| rgb))
            .collect();
        let raw: Vec<u8> = (0..height).flat_map(|_| row.iter().copied()).collect();
        let mut zlib = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
        for (i, block) in blocks.iter().enumerate() {
            zlib.push(u8::from(i + 1 == blocks.len()));
            let len = block.len() as u16;
            zlib.extend_from_slice(&len.to_le_bytes());
            zlib.extend_from_slice(&(!len).to_le_bytes());
            zlib.extend_from_slice(block);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for byte in &raw {
            a = (a + u32::from(*byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

        let mut png = PNG_SIGNATURE.to_vec();
        let mut chunk = |kind: &[u8], body: &[u8]| {
            png.extend_from_slice(&(body.len() as u32).to_be_bytes());
            png.extend_from_slice(kind);
            png.extend_from_slice(body);
            png.extend_from_slice(&crc32(kind, body).to_be_bytes());
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IDAT", &zlib);
        chunk(b"IEND", &[]);
        png
    }

    fn crc32(kind: &[u8], body: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for byte in kind.iter().chain(body) {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_png_gives_its_size_colours_and_pixel_data() {
        let image = Image::parse(&solid_png(40, 10, [200, 30, 30])).unwrap();
        assert_eq!((image.width, image.height, image.colors), (40, 10, 3));
        assert_eq!(image.encoding, ImageEncoding::Png);
        assert_eq!(&image.data[..2], &[0x78, 0x01]);
    }

    #[test]
    fn a_png_with_transparency_or_a_palette_is_refused_with_the_way_out() {
        let mut rgba = solid_png(2, 2, [0, 0, 0]);
        rgba[PNG_SIGNATURE.len() + 8 + 9] = 6; // colour type: RGBA
        let err = Image::parse(&rgba).unwrap_err().to_string();
        assert!(err.contains("transparency"), "{err}");
        assert!(err.contains("8-bit RGB"), "{err}");
        let mut palette = solid_png(2, 2, [0, 0, 0]);
        palette[PNG_SIGNATURE.len() + 8 + 9] = 3;
        assert!(
            Image::parse(&palette)
                .unwrap_err()
                .to_string()
                .contains("palette")
        );
    }

    #[test]
    fn a_jpeg_frame_header_gives_its_size_and_colours() {
        // SOI, an APP0 segment, SOF0 (8-bit, 120 × 32, 3 components), EOI.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 8, 0x00, 32, 0x00, 120, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend_from_slice(&[0xff, 0xd9]);
        let image = Image::parse(&jpeg).unwrap();
        assert_eq!((image.width, image.height, image.colors), (120, 32, 3));
        assert_eq!(image.encoding, ImageEncoding::Jpeg);
        assert_eq!(image.data, jpeg);
    }

    #[test]
    fn other_files_and_cut_files_are_refused() {
        assert_eq!(Image::parse(b"GIF89a"), Err(ImageError::UnknownFormat));
        assert_eq!(
            Image::parse(&[0xff, 0xd8, 0xff]),
            Err(ImageError::Malformed("JPEG"))
        );
        let png = solid_png(4, 4, [1, 2, 3]);
        assert_eq!(Image::parse(&png[..30]), Err(ImageError::Malformed("PNG")));
        let err = Image::load(Path::new("no/such/logo.png"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no/such/logo.png: "), "{err}");
    }
}
