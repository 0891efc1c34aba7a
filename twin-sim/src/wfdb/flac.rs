//! WFDB signal files in the FLAC formats (508, 516, 524): one FLAC stream per file, one
//! channel per signal in header order, every signal with the same samples per frame (a WFDB
//! frame of `s` samples per signal is `s` consecutive FLAC samples). The FLAC decoding itself
//! is claxon's; this module checks the stream against the header and lays its samples out
//! like a byte format's interleaved stream.

use std::io::Cursor;

use super::error::SignalProblem;
use super::format::{MAX_SAMPLES, SignalFormat};

/// Decodes a FLAC signal file holding signals with the given samples per frame. `wanted` is
/// the number of samples the header asks for over all signals (`None`: as many whole frames
/// as the stream holds). Returns the frames and the interleaved stream of samples, or the
/// problem and the byte the decoder had read up to (it reads ahead in blocks of up to 2 KiB,
/// so the problem is at or before that byte).
pub(super) fn decode(
    data: &[u8],
    format: SignalFormat,
    samples_per_frame: &[u32],
    wanted: Option<u64>,
) -> Result<(u64, Vec<i32>), (u64, SignalProblem)> {
    let signals = samples_per_frame.len();
    let spf = samples_per_frame.first().copied().unwrap_or(1);
    if samples_per_frame.iter().any(|&s| s != spf) {
        return Err((0, SignalProblem::FlacSamplesPerFrame));
    }
    let mut cursor = Cursor::new(data);
    let channels = match read_channels(&mut cursor, format, signals, wanted) {
        Ok(channels) => channels,
        Err(problem) => return Err((cursor.position(), problem)),
    };
    let spf = u64::from(spf);
    let available = channels.iter().map(|c| c.len() as u64).min().unwrap_or(0);
    let frames = match wanted {
        Some(needed) => {
            let per_channel = needed / signals as u64;
            if available < per_channel {
                let problem = SignalProblem::FlacTooShort { needed: per_channel, found: available };
                return Err((data.len() as u64, problem));
            }
            per_channel / spf
        }
        None => available / spf,
    };
    if frames == 0 {
        return Err((0, SignalProblem::NoFrames));
    }
    let s = spf as usize;
    let mut stream = Vec::with_capacity(frames as usize * s * signals);
    for frame in 0..frames as usize {
        for channel in &channels {
            stream.extend_from_slice(&channel[frame * s..frame * s + s]);
        }
    }
    Ok((frames, stream))
}

/// Reads every channel of the stream, checking its layout against the header's.
fn read_channels(
    cursor: &mut Cursor<&[u8]>,
    format: SignalFormat,
    signals: usize,
    wanted: Option<u64>,
) -> Result<Vec<Vec<i32>>, SignalProblem> {
    let invalid = |e: claxon::Error| SignalProblem::Flac(e.to_string());
    let mut reader = claxon::FlacReader::new(cursor).map_err(invalid)?;
    let info = reader.streaminfo();
    if info.channels as usize != signals {
        return Err(SignalProblem::FlacChannels { channels: info.channels, signals });
    }
    let bits = format.flac_bits().unwrap_or(16);
    if info.bits_per_sample != bits {
        return Err(SignalProblem::FlacBits { found: info.bits_per_sample, expected: bits, format: format.number() });
    }
    let limit = wanted.unwrap_or(MAX_SAMPLES);
    if let Some(total) = info.samples.map(|n| n.saturating_mul(signals as u64))
        && total > MAX_SAMPLES
    {
        return Err(SignalProblem::TooLarge { samples: total, limit: MAX_SAMPLES });
    }
    let mut channels: Vec<Vec<i32>> = vec![Vec::new(); signals];
    let mut blocks = reader.blocks();
    let mut buffer = Vec::new();
    while let Some(block) = blocks.read_next_or_eof(buffer).map_err(invalid)? {
        if block.channels() as usize != signals {
            return Err(SignalProblem::FlacChannels { channels: block.channels(), signals });
        }
        for (c, channel) in channels.iter_mut().enumerate() {
            channel.extend_from_slice(block.channel(c as u32));
        }
        let decoded = channels[0].len() as u64 * signals as u64;
        if decoded >= limit {
            if wanted.is_none() && decoded > MAX_SAMPLES {
                return Err(SignalProblem::TooLarge { samples: decoded, limit: MAX_SAMPLES });
            }
            break;
        }
        buffer = block.into_buffer();
    }
    Ok(channels)
}
