//! DXGI Desktop Duplication (Windows 8+): the primary capture path. The OS composes the
//! monitor's desktop into a GPU texture and hands it out through
//! `IDXGIOutputDuplication::AcquireNextFrame` only when something changed, with the frame's
//! move and dirty rectangles. This file is the [`DuplicationSource`] over those calls; the
//! bookkeeping (unchanged rule, clipping, accumulation, re-creation after ACCESS_LOST) is the
//! platform-neutral [`crate::duplication::DuplicationCapturer`], unit-tested with a fake source.
//!
//! Pixels travel GPU texture → staging texture (CopyResource) → Map → only the changed rows
//! are copied into the capturer's picture. Rotated outputs are refused (the backend falls back
//! to GDI, which reads them upright). Under Wine, DuplicateOutput returns E_NOTIMPL, so the
//! fallback is what runs there; this path runs on real Windows only.

use windows::core::Interface;
use windows::Win32::Foundation::{HMODULE, RECT};
use windows::Win32::Graphics::Direct3D::D3D_DRIVER_TYPE_UNKNOWN;
use windows::Win32::Graphics::Direct3D11::{
    D3D11CreateDevice, ID3D11Device, ID3D11DeviceContext, ID3D11Texture2D, D3D11_CPU_ACCESS_READ,
    D3D11_CREATE_DEVICE_BGRA_SUPPORT, D3D11_MAPPED_SUBRESOURCE, D3D11_MAP_READ, D3D11_SDK_VERSION,
    D3D11_TEXTURE2D_DESC, D3D11_USAGE_STAGING,
};
use windows::Win32::Graphics::Dxgi::Common::{
    DXGI_FORMAT_B8G8R8A8_UNORM, DXGI_MODE_ROTATION_IDENTITY, DXGI_MODE_ROTATION_UNSPECIFIED,
    DXGI_SAMPLE_DESC,
};
use windows::Win32::Graphics::Dxgi::{
    CreateDXGIFactory1, IDXGIAdapter1, IDXGIFactory1, IDXGIOutput1, IDXGIOutputDuplication,
    IDXGIResource, DXGI_ERROR_ACCESS_LOST, DXGI_ERROR_MORE_DATA, DXGI_ERROR_WAIT_TIMEOUT,
    DXGI_OUTDUPL_FRAME_INFO, DXGI_OUTDUPL_MOVE_RECT,
};

use crate::duplication::{Acquired, DuplicationSource, SourceError, SrcMove, SrcRect};
use crate::{CaptureError, DirtyRect, FrameBuf};

fn failed(what: &str, e: windows::core::Error) -> SourceError {
    if e.code() == DXGI_ERROR_ACCESS_LOST {
        SourceError::AccessLost(format!("{what}: {e}"))
    } else {
        SourceError::Failed(format!("{what}: {e}"))
    }
}

/// The output named `name` (`\\.\DISPLAY1`) and its adapter.
fn find_output(name: &str) -> windows::core::Result<Option<(IDXGIAdapter1, IDXGIOutput1)>> {
    // SAFETY: plain COM calls; every returned interface is reference-counted by windows-rs.
    unsafe {
        let factory: IDXGIFactory1 = CreateDXGIFactory1()?;
        let mut a = 0;
        while let Ok(adapter) = factory.EnumAdapters1(a) {
            let mut o = 0;
            while let Ok(output) = adapter.EnumOutputs(o) {
                let desc = output.GetDesc()?;
                // cut at the first NUL: Wine leaves junk behind it
                let len = desc.DeviceName.iter().position(|&c| c == 0).unwrap_or(32);
                if String::from_utf16_lossy(&desc.DeviceName[..len]) == name {
                    return Ok(Some((adapter, output.cast()?)));
                }
                o += 1;
            }
            a += 1;
        }
    }
    Ok(None)
}

/// Desktop Duplication of one monitor.
pub struct DxgiSource {
    name: String,
    device: ID3D11Device,
    context: ID3D11DeviceContext,
    dup: IDXGIOutputDuplication,
    staging: Option<ID3D11Texture2D>,
    /// The frame held between acquire and release.
    held: Option<IDXGIResource>,
    width: u16,
    height: u16,
    info: DXGI_OUTDUPL_FRAME_INFO,
    /// Metadata buffers, reused.
    moves: Vec<DXGI_OUTDUPL_MOVE_RECT>,
    rects: Vec<RECT>,
}

impl DxgiSource {
    /// Opens the duplication of the monitor named `name`.
    pub fn open(name: &str) -> Result<DxgiSource, CaptureError> {
        super::displays::set_dpi_awareness();
        let (device, context, dup, (width, height)) =
            Self::duplicate(name).map_err(|e| CaptureError::Open(e.to_string()))?;
        Ok(DxgiSource {
            name: name.to_string(),
            device,
            context,
            dup,
            staging: None,
            held: None,
            width,
            height,
            info: DXGI_OUTDUPL_FRAME_INFO::default(),
            moves: Vec::new(),
            rects: Vec::new(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn duplicate(
        name: &str,
    ) -> Result<
        (
            ID3D11Device,
            ID3D11DeviceContext,
            IDXGIOutputDuplication,
            (u16, u16),
        ),
        SourceError,
    > {
        let (adapter, output) = find_output(name)
            .map_err(|e| failed("enumerating DXGI outputs", e))?
            .ok_or_else(|| SourceError::Gone(name.to_string()))?;
        let mut device = None;
        let mut context = None;
        // SAFETY: the out pointers are valid Options that receive the created interfaces;
        // the adapter is alive for the call.
        unsafe {
            D3D11CreateDevice(
                &adapter,
                D3D_DRIVER_TYPE_UNKNOWN,
                HMODULE::default(),
                D3D11_CREATE_DEVICE_BGRA_SUPPORT,
                None,
                D3D11_SDK_VERSION,
                Some(&mut device),
                None,
                Some(&mut context),
            )
        }
        .map_err(|e| failed("D3D11CreateDevice", e))?;
        let (device, context) = device
            .zip(context)
            .ok_or_else(|| SourceError::Failed("D3D11CreateDevice gave no device".into()))?;
        // SAFETY: a COM call on live interfaces.
        let dup = unsafe { output.DuplicateOutput(&device) }
            .map_err(|e| failed("IDXGIOutput1::DuplicateOutput", e))?;
        // SAFETY: a COM call on a live interface; it fills a plain struct.
        let desc = unsafe { dup.GetDesc() };
        if desc.Rotation != DXGI_MODE_ROTATION_IDENTITY
            && desc.Rotation != DXGI_MODE_ROTATION_UNSPECIFIED
        {
            return Err(SourceError::Failed(format!(
                "output {name} is rotated ({:?}); not supported by the duplication path",
                desc.Rotation
            )));
        }
        let (w, h) = (desc.ModeDesc.Width, desc.ModeDesc.Height);
        let size = u16::try_from(w).ok().zip(u16::try_from(h).ok());
        let size = size
            .filter(|&(w, h)| w > 0 && h > 0)
            .ok_or_else(|| SourceError::Failed(format!("output {name} size {w}x{h}")))?;
        Ok((device, context, dup, size))
    }

    /// The staging texture for a frame described by `desc`, made once per size.
    fn staging(&mut self, desc: &D3D11_TEXTURE2D_DESC) -> Result<ID3D11Texture2D, SourceError> {
        if let Some(s) = &self.staging {
            let mut have = D3D11_TEXTURE2D_DESC::default();
            // SAFETY: fills a plain struct from a live texture.
            unsafe { s.GetDesc(&mut have) };
            if (have.Width, have.Height, have.Format) == (desc.Width, desc.Height, desc.Format) {
                return Ok(s.clone());
            }
        }
        let want = D3D11_TEXTURE2D_DESC {
            Width: desc.Width,
            Height: desc.Height,
            MipLevels: 1,
            ArraySize: 1,
            Format: desc.Format,
            SampleDesc: DXGI_SAMPLE_DESC {
                Count: 1,
                Quality: 0,
            },
            Usage: D3D11_USAGE_STAGING,
            BindFlags: 0,
            CPUAccessFlags: D3D11_CPU_ACCESS_READ.0 as u32,
            MiscFlags: 0,
        };
        let mut tex = None;
        // SAFETY: `want` is a valid description; `tex` receives the new texture.
        unsafe { self.device.CreateTexture2D(&want, None, Some(&mut tex)) }
            .map_err(|e| failed("CreateTexture2D (staging)", e))?;
        let tex = tex.ok_or_else(|| SourceError::Failed("no staging texture".into()))?;
        self.staging = Some(tex.clone());
        Ok(tex)
    }
}

impl DuplicationSource for DxgiSource {
    fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    fn acquire(&mut self, timeout_ms: u32) -> Result<Acquired, SourceError> {
        let mut res = None;
        // SAFETY: `info` and `res` are valid out pointers for the call.
        let r = unsafe {
            self.dup
                .AcquireNextFrame(timeout_ms, &mut self.info, &mut res)
        };
        match r {
            Ok(()) => {
                self.held = res;
                Ok(Acquired::Frame {
                    picture_updated: self.info.LastPresentTime != 0,
                })
            }
            Err(e) if e.code() == DXGI_ERROR_WAIT_TIMEOUT => Ok(Acquired::Timeout),
            Err(e) => Err(failed("AcquireNextFrame", e)),
        }
    }

    fn move_rects(&mut self) -> Result<Vec<SrcMove>, SourceError> {
        let size = std::mem::size_of::<DXGI_OUTDUPL_MOVE_RECT>();
        let mut cap = (self.info.TotalMetadataBufferSize as usize / size).max(4);
        loop {
            self.moves.resize(cap, DXGI_OUTDUPL_MOVE_RECT::default());
            let mut need = 0u32;
            // SAFETY: the buffer holds `cap` move rects and its byte size is passed.
            let r = unsafe {
                self.dup
                    .GetFrameMoveRects((cap * size) as u32, self.moves.as_mut_ptr(), &mut need)
            };
            match r {
                Ok(()) => {
                    let n = need as usize / size;
                    return Ok(self.moves[..n.min(cap)]
                        .iter()
                        .map(|m| SrcMove {
                            src_x: m.SourcePoint.x,
                            src_y: m.SourcePoint.y,
                            dst: SrcRect {
                                left: m.DestinationRect.left,
                                top: m.DestinationRect.top,
                                right: m.DestinationRect.right,
                                bottom: m.DestinationRect.bottom,
                            },
                        })
                        .collect());
                }
                Err(e) if e.code() == DXGI_ERROR_MORE_DATA => cap = need as usize / size + 1,
                Err(e) => return Err(failed("GetFrameMoveRects", e)),
            }
        }
    }

    fn dirty_rects(&mut self) -> Result<Vec<SrcRect>, SourceError> {
        let size = std::mem::size_of::<RECT>();
        let mut cap = (self.info.TotalMetadataBufferSize as usize / size).max(4);
        loop {
            self.rects.resize(cap, RECT::default());
            let mut need = 0u32;
            // SAFETY: the buffer holds `cap` RECTs and its byte size is passed.
            let r = unsafe {
                self.dup
                    .GetFrameDirtyRects((cap * size) as u32, self.rects.as_mut_ptr(), &mut need)
            };
            match r {
                Ok(()) => {
                    let n = need as usize / size;
                    return Ok(self.rects[..n.min(cap)]
                        .iter()
                        .map(|r| SrcRect {
                            left: r.left,
                            top: r.top,
                            right: r.right,
                            bottom: r.bottom,
                        })
                        .collect());
                }
                Err(e) if e.code() == DXGI_ERROR_MORE_DATA => cap = need as usize / size + 1,
                Err(e) => return Err(failed("GetFrameDirtyRects", e)),
            }
        }
    }

    fn read(
        &mut self,
        image: &mut FrameBuf,
        regions: Option<&[DirtyRect]>,
    ) -> Result<(), SourceError> {
        let res = self
            .held
            .clone()
            .ok_or_else(|| SourceError::Failed("no frame held".into()))?;
        let tex: ID3D11Texture2D = res
            .cast()
            .map_err(|e| failed("desktop resource as a texture", e))?;
        let mut desc = D3D11_TEXTURE2D_DESC::default();
        // SAFETY: fills a plain struct from a live texture.
        unsafe { tex.GetDesc(&mut desc) };
        if desc.Format != DXGI_FORMAT_B8G8R8A8_UNORM {
            return Err(SourceError::Failed(format!(
                "desktop format {:?} is not B8G8R8A8",
                desc.Format
            )));
        }
        let (w, h) = (image.width as usize, image.height as usize);
        if (desc.Width as usize) < w || (desc.Height as usize) < h {
            return Err(SourceError::AccessLost(format!(
                "desktop texture {}x{} smaller than {w}x{h}",
                desc.Width, desc.Height
            )));
        }
        let staging = self.staging(&desc)?;
        let mut mapped = D3D11_MAPPED_SUBRESOURCE::default();
        // SAFETY: both textures are alive, of the same size and format; the staging texture is
        // CPU-readable and mapped for reading only, then unmapped below on every path.
        unsafe {
            self.context.CopyResource(&staging, &tex);
            self.context
                .Map(&staging, 0, D3D11_MAP_READ, 0, Some(&mut mapped))
                .map_err(|e| failed("Map (staging)", e))?;
        }
        let pitch = mapped.RowPitch as usize;
        let whole = [DirtyRect {
            x: 0,
            y: 0,
            w: w as u16,
            h: h as u16,
        }];
        // SAFETY: the mapping holds `desc.Height` rows of `pitch` bytes (pitch >= width * 4)
        // until Unmap; it is only read here.
        let src = unsafe {
            std::slice::from_raw_parts(mapped.pData as *const u8, pitch * desc.Height as usize)
        };
        for d in regions.unwrap_or(&whole) {
            let (x, bw) = (d.x as usize * 4, d.w as usize * 4);
            for row in d.y as usize..(d.y as usize + d.h as usize).min(h) {
                let s = &src[row * pitch + x..row * pitch + x + bw];
                let o = row * image.stride + x;
                let dst = &mut image.data[o..o + bw];
                dst.copy_from_slice(s);
                for px in dst.chunks_exact_mut(4) {
                    px[3] = 0xFF;
                }
            }
        }
        // SAFETY: unmaps what was mapped above; `src` is not used afterwards.
        unsafe { self.context.Unmap(&staging, 0) };
        Ok(())
    }

    fn release(&mut self) -> Result<(), SourceError> {
        self.held = None;
        // SAFETY: a COM call on a live interface; the frame's resource was dropped first.
        unsafe { self.dup.ReleaseFrame() }.map_err(|e| failed("ReleaseFrame", e))
    }

    fn recreate(&mut self) -> Result<(), SourceError> {
        self.held = None;
        self.staging = None;
        let (device, context, dup, (w, h)) = Self::duplicate(&self.name)?;
        (self.device, self.context, self.dup) = (device, context, dup);
        (self.width, self.height) = (w, h);
        Ok(())
    }
}
