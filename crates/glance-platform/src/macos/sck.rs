//! Screen capture through ScreenCaptureKit (macOS 12.3+): the push model.
//!
//! Compiled and type-checked, not run: no Mac in CI.
//!
//! Opening a capturer (Apple's ScreenCaptureKit documentation, "Capturing screen content in
//! macOS"):
//! 1. [`super::permission`]: no Screen Recording permission, no stream (never black frames).
//! 2. `+[SCShareableContent getShareableContentWithCompletionHandler:]`: the handler runs on
//!    an arbitrary queue with the content or an error; bridged here to a blocking wait with
//!    a timeout ([`ANSWER_TIMEOUT`]).
//! 3. The `SCDisplay` whose `displayID` is the display's CGDirectDisplayID, and
//!    `-[SCContentFilter initWithDisplay:excludingWindows:]` with no excluded windows: the whole
//!    display, desktop and Dock included. Application-only sharing later is the same filter
//!    type: `initWithDisplay:includingApplications:exceptingWindows:` with the
//!    `SCRunningApplication`s of `SCShareableContent.applications`.
//! 4. `SCStreamConfiguration`: `width`/`height` in pixels (the display mode's pixel size),
//!    `pixelFormat` = `kCVPixelFormatType_32BGRA`, `showsCursor` = NO (the pointer travels
//!    beside the pixels), `minimumFrameInterval` = 1/30 s, `queueDepth` = 3 (Apple's default;
//!    the documented range is 3..=8).
//! 5. `-[SCStream initWithFilter:configuration:delegate:]`, then
//!    `addStreamOutput:type:sampleHandlerQueue:error:` (type `SCStreamOutputTypeScreen`, a
//!    serial dispatch queue of our own) and `startCaptureWithCompletionHandler:` (waited for).
//!
//! Each frame arrives as a `CMSampleBuffer` in `stream:didOutputSampleBuffer:ofType:`. Its
//! sample attachment `SCStreamFrameInfoStatus` says whether it holds a new picture
//! (`SCFrameStatusComplete`); Idle/Blank/Suspended/Started/Stopped frames carry none and count
//! as "unchanged". For a complete frame the `CVPixelBuffer` (`CMSampleBufferGetImageBuffer`)
//! is locked read-only (`CVPixelBufferLockBaseAddress`), its rows copied honouring
//! `CVPixelBufferGetBytesPerRow` into the latest-frame slot, and unlocked; a flag marks the
//! new frame. [`Capturer::may_have_changed`] answers from that flag, and
//! [`Capturer::capture`] copies the latest frame (padding byte set to 0xFF). When the stream
//! stops on its own (`stream:didStopWithError:`: display gone, permission revoked), the next
//! capture fails with that error. Drop stops the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use block2::RcBlock;
use dispatch2::{DispatchQueue, DispatchRetained};
use objc2::rc::Retained;
use objc2::runtime::{AnyClass, AnyObject, ProtocolObject};
use objc2::{define_class, msg_send, AnyThread, DefinedClass};
use objc2_core_foundation::CFArray;
use objc2_core_media::{CMSampleBuffer, CMTime};
use objc2_core_video::{
    kCVPixelFormatType_32BGRA, kCVReturnSuccess, CVPixelBuffer, CVPixelBufferGetBaseAddress,
    CVPixelBufferGetBytesPerRow, CVPixelBufferGetHeight, CVPixelBufferGetPixelFormatType,
    CVPixelBufferGetWidth, CVPixelBufferLockBaseAddress, CVPixelBufferLockFlags,
    CVPixelBufferUnlockBaseAddress,
};
use objc2_foundation::{
    NSArray, NSDictionary, NSError, NSNumber, NSObject, NSObjectProtocol, NSString,
};
use objc2_screen_capture_kit::{
    SCContentFilter, SCDisplay, SCFrameStatus, SCShareableContent, SCStream, SCStreamConfiguration,
    SCStreamDelegate, SCStreamErrorCode, SCStreamFrameInfoStatus, SCStreamOutput,
    SCStreamOutputType, SCWindow,
};

use super::displays::MacDisplay;
use super::permission;
use crate::{CaptureError, Capturer, FrameBuf};

/// How long ScreenCaptureKit may take to answer a request (content list, start).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the first [`Capturer::capture`] waits for the stream's first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(3);

/// The latest complete frame, tightly packed BGRA.
#[derive(Debug, Default)]
struct Latest {
    data: Vec<u8>,
    width: usize,
    height: usize,
    /// Complete frames received so far.
    frames: u64,
}

/// What the stream's callbacks share with the capturer.
#[derive(Debug, Default)]
struct Shared {
    latest: Mutex<Latest>,
    /// Signalled on every complete frame (the first capture waits for one).
    arrived: Condvar,
    /// A complete frame arrived since the last capture.
    fresh: AtomicBool,
    /// Why the stream stopped on its own.
    stopped: Mutex<Option<String>>,
}

/// A lock that a panic elsewhere cannot poison for good: the data is plain bytes.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

define_class!(
    // SAFETY:
    // - NSObject has no subclassing requirements.
    // - `StreamOutput` does not implement Drop; its ivars (an Arc of Send + Sync data) are
    //   dropped by objc2's generated dealloc.
    #[unsafe(super(NSObject))]
    #[ivars = Arc<Shared>]
    struct StreamOutput;

    // SAFETY: NSObjectProtocol has no safety requirements.
    unsafe impl NSObjectProtocol for StreamOutput {}

    // SAFETY: SCStreamOutput's one method is optional, and the signature below is the one
    // declared in SCStream.h: `- (void)stream:(SCStream *)stream
    // didOutputSampleBuffer:(CMSampleBufferRef)sampleBuffer ofType:(SCStreamOutputType)type`.
    unsafe impl SCStreamOutput for StreamOutput {
        #[unsafe(method(stream:didOutputSampleBuffer:ofType:))]
        fn did_output_sample_buffer(
            &self,
            _stream: &SCStream,
            sample: &CMSampleBuffer,
            kind: SCStreamOutputType,
        ) {
            if kind == SCStreamOutputType::Screen {
                on_sample(self.ivars(), sample);
            }
        }
    }

    // SAFETY: every SCStreamDelegate method is optional; the signature is SCStream.h's
    // `- (void)stream:(SCStream *)stream didStopWithError:(NSError *)error`.
    unsafe impl SCStreamDelegate for StreamOutput {
        #[unsafe(method(stream:didStopWithError:))]
        fn did_stop_with_error(&self, _stream: &SCStream, error: &NSError) {
            let (code, text) = error_text(error);
            log::warn!("ScreenCaptureKit stream stopped: {text} ({code})");
            *lock(&self.ivars().stopped) = Some(text);
            // Wake a capture waiting for the first frame.
            self.ivars().arrived.notify_all();
        }
    }
);

impl StreamOutput {
    fn new(shared: Arc<Shared>) -> Retained<StreamOutput> {
        let this = StreamOutput::alloc().set_ivars(shared);
        // SAFETY: `-[NSObject init]` takes no arguments and returns the initialised object.
        unsafe { msg_send![super(this), init] }
    }
}

/// One `stream:didOutputSampleBuffer:ofType:` call of type Screen. Runs on our serial
/// sample-handler queue. Written not to panic: a panic would unwind into ScreenCaptureKit.
fn on_sample(shared: &Shared, sample: &CMSampleBuffer) {
    // SAFETY: CMSampleBufferIsValid on the sample buffer of this callback (Apple's capture
    // sample checks it first: an invalidated buffer has no usable data).
    if !unsafe { sample.is_valid() } {
        return;
    }
    if frame_status(sample) != Some(SCFrameStatus::Complete) {
        return; // idle, blank, suspended, ...: no new picture
    }
    // SAFETY: `sample` is the valid CMSampleBuffer ScreenCaptureKit hands to this callback;
    // CMSampleBufferGetImageBuffer returns its image buffer or NULL (the wrapper retains it).
    let Some(pixels) = (unsafe { sample.image_buffer() }) else {
        return;
    };
    let mut latest = lock(&shared.latest);
    match copy_pixel_buffer(&pixels, &mut latest) {
        Ok(()) => {
            latest.frames += 1;
            drop(latest);
            shared.fresh.store(true, Ordering::Release);
            shared.arrived.notify_all();
        }
        Err(e) => log::warn!("ScreenCaptureKit frame skipped: {e}"),
    }
}

/// The frame's SCFrameStatus (sample attachment `SCStreamFrameInfoStatus`, an NSNumber).
fn frame_status(sample: &CMSampleBuffer) -> Option<SCFrameStatus> {
    // SAFETY: CMSampleBufferGetSampleAttachmentsArray on the valid sample buffer of this
    // callback, createIfNecessary = false: its array of per-sample CFDictionaries, or NULL
    // (the wrapper retains the array).
    let attachments = unsafe { sample.sample_attachments_array(false) }?;
    let ptr: *const CFArray = &*attachments;
    // SAFETY: CFArray is toll-free bridged with NSArray, CFDictionary with NSDictionary and
    // CFString with NSString (Apple, "Toll-Free Bridged Types"); the sample attachments array
    // holds CFDictionaries with CFString keys. `attachments` keeps the array alive for this
    // borrow and nothing mutates it meanwhile.
    let array: &NSArray<NSDictionary<NSString, AnyObject>> = unsafe { &*ptr.cast() };
    let info = array.firstObject()?;
    // SAFETY: SCStreamFrameInfoStatus is an immutable NSString constant exported by
    // ScreenCaptureKit (macOS 12.3+).
    let key: &NSString = unsafe { SCStreamFrameInfoStatus };
    let status = info.objectForKey(key)?.downcast::<NSNumber>().ok()?;
    Some(SCFrameStatus(status.integerValue()))
}

/// Copies a locked 32BGRA pixel buffer's rows into `latest`, packed (width * 4 a row).
fn copy_pixel_buffer(pixels: &CVPixelBuffer, latest: &mut Latest) -> Result<(), String> {
    let format = CVPixelBufferGetPixelFormatType(pixels);
    if format != kCVPixelFormatType_32BGRA {
        return Err(format!("pixel format {format:#010x}, not 32BGRA"));
    }
    // SAFETY: CVPixelBufferLockBaseAddress with kCVPixelBufferLock_ReadOnly on a valid pixel
    // buffer: "you must call this function before accessing pixel data with the CPU"; every
    // successful lock is paired with the unlock below, with the same flags.
    let r = unsafe { CVPixelBufferLockBaseAddress(pixels, CVPixelBufferLockFlags::ReadOnly) };
    if r != kCVReturnSuccess {
        return Err(format!("CVPixelBufferLockBaseAddress failed: CVReturn {r}"));
    }
    let width = CVPixelBufferGetWidth(pixels);
    let height = CVPixelBufferGetHeight(pixels);
    let stride = CVPixelBufferGetBytesPerRow(pixels);
    let base = CVPixelBufferGetBaseAddress(pixels)
        .cast::<u8>()
        .cast_const();
    let row = width * 4;
    let result = if base.is_null() || width == 0 || height == 0 {
        Err("the pixel buffer has no pixels".to_string())
    } else if stride < row {
        Err(format!("{stride} bytes a row for {width} pixels"))
    } else {
        // SAFETY: while the base address is locked, a non-planar pixel buffer's memory is
        // `bytesPerRow * height` readable bytes starting at the base address (CVPixelBuffer.h);
        // the slice ends at the last row's last pixel, inside that.
        let src = unsafe { std::slice::from_raw_parts(base, stride * (height - 1) + row) };
        latest.data.resize(row * height, 0);
        for (y, dst) in latest.data.chunks_exact_mut(row).enumerate() {
            dst.copy_from_slice(&src[y * stride..y * stride + row]);
        }
        (latest.width, latest.height) = (width, height);
        Ok(())
    };
    // SAFETY: pairs the successful read-only lock above (same buffer, same flags); `src` is
    // no longer used.
    unsafe { CVPixelBufferUnlockBaseAddress(pixels, CVPixelBufferLockFlags::ReadOnly) };
    result
}

/// An NSError's code and localized description.
fn error_text(e: &NSError) -> (isize, String) {
    (e.code(), e.localizedDescription().to_string())
}

/// The capture error for a ScreenCaptureKit NSError: a refused permission is the permission
/// error, anything else is `what` failing.
fn map_error(what: &str, code: isize, text: &str) -> CaptureError {
    if code == SCStreamErrorCode::UserDeclined.0 {
        permission::denied()
    } else {
        CaptureError::Open(format!("ScreenCaptureKit: {what}: {text} (error {code})"))
    }
}

/// Moves an Objective-C object out of a completion handler to the waiting thread.
struct Handoff<T>(T);

// SAFETY: only used for SCShareableContent, an immutable snapshot of the shareable displays,
// applications and windows ("An instance that represents a set of displays, apps, and windows
// that your app can capture"); it is created on ScreenCaptureKit's queue, handed over once,
// and then only read on the receiving thread.
unsafe impl<T> Send for Handoff<T> {}

/// `+[SCShareableContent getShareableContentWithCompletionHandler:]`, waited for.
fn shareable_content() -> Result<Retained<SCShareableContent>, CaptureError> {
    let (tx, rx) =
        mpsc::sync_channel::<Result<Handoff<Retained<SCShareableContent>>, (isize, String)>>(1);
    let handler = RcBlock::new(
        move |content: *mut SCShareableContent, error: *mut NSError| {
            // SAFETY: the handler's arguments are valid (or nil) for the duration of the call;
            // retaining them keeps them past it.
            let (content, error) = unsafe { (Retained::retain(content), Retained::retain(error)) };
            let answer = match (content, error) {
                (_, Some(e)) => Err(error_text(&e)),
                (Some(c), None) => Ok(Handoff(c)),
                (None, None) => Err((0, "no content and no error".to_string())),
            };
            let _ = tx.try_send(answer);
        },
    );
    // SAFETY: the handler has the signature SCShareableContent.h declares,
    // `void (^)(SCShareableContent *shareableContent, NSError *error)`; the framework copies
    // the block, so it may outlive this call.
    unsafe { SCShareableContent::getShareableContentWithCompletionHandler(&handler) };
    match rx.recv_timeout(ANSWER_TIMEOUT) {
        Ok(Ok(Handoff(content))) => Ok(content),
        Ok(Err((code, text))) => Err(map_error("listing the shareable content", code, &text)),
        Err(_) => Err(CaptureError::Open(format!(
            "ScreenCaptureKit did not list the shareable content within {} s",
            ANSWER_TIMEOUT.as_secs()
        ))),
    }
}

/// Runs `start` with a completion block and waits for it.
fn wait_completion(
    what: &str,
    start: impl FnOnce(&block2::DynBlock<dyn Fn(*mut NSError)>),
) -> Result<(), CaptureError> {
    let (tx, rx) = mpsc::sync_channel::<Option<(isize, String)>>(1);
    let handler = RcBlock::new(move |error: *mut NSError| {
        // SAFETY: the error argument is valid or nil for the duration of the call.
        let error = unsafe { Retained::retain(error) };
        let _ = tx.try_send(error.map(|e| error_text(&e)));
    });
    start(&handler);
    match rx.recv_timeout(ANSWER_TIMEOUT) {
        Ok(None) => Ok(()),
        Ok(Some((code, text))) => Err(map_error(what, code, &text)),
        Err(_) => Err(CaptureError::Open(format!(
            "ScreenCaptureKit: {what}: no answer within {} s",
            ANSWER_TIMEOUT.as_secs()
        ))),
    }
}

/// A ScreenCaptureKit stream of one display.
pub struct SckCapturer {
    stream: Retained<SCStream>,
    /// The stream's output and delegate. Apple does not document whether SCStream retains
    /// them (delegates are conventionally weak), so the capturer keeps them alive.
    _output: Retained<StreamOutput>,
    /// The serial queue the sample handler runs on.
    _queue: DispatchRetained<DispatchQueue>,
    shared: Arc<Shared>,
    display: MacDisplay,
    /// Complete frames copied out so far.
    taken: u64,
}

// SAFETY: the capturer is moved to the session's capture thread once and then used from one
// thread at a time (`&mut self`). Apple documents no thread affinity for SCStream (its methods
// report through completion handlers on framework queues), and after the start this capturer
// only calls stopCaptureWithCompletionHandler: (in Drop). StreamOutput's state is an Arc of
// Mutex/Condvar/atomics, and dispatch queues are thread-safe.
unsafe impl Send for SckCapturer {}

impl std::fmt::Debug for SckCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SckCapturer")
            .field("display", &self.display)
            .field("taken", &self.taken)
            .finish()
    }
}

impl SckCapturer {
    /// Starts a stream of `display` (checked for the permission first).
    pub fn open(display: MacDisplay) -> Result<SckCapturer, CaptureError> {
        permission::ensure_screen_capture()?;
        if AnyClass::get(c"SCStream").is_none() {
            return Err(CaptureError::Unsupported(
                "ScreenCaptureKit needs macOS 12.3 or later".into(),
            ));
        }
        let content = shareable_content()?;
        // SAFETY: `displays` is a plain getter of the content snapshot (an NSArray of
        // SCDisplay).
        let sc_displays = unsafe { content.displays() };
        let sc_display: Retained<SCDisplay> = sc_displays
            .iter()
            // SAFETY: `displayID` is a plain getter of an SCDisplay of that array.
            .find(|d| unsafe { d.displayID() } == display.id)
            .ok_or_else(|| {
                CaptureError::NoSuchDisplay(super::displays::display_name(display.id))
            })?;
        let no_windows = NSArray::<SCWindow>::new();
        // SAFETY: initWithDisplay:excludingWindows: takes an SCDisplay of the current
        // shareable content and an array (here empty) of its SCWindows.
        let filter = unsafe {
            SCContentFilter::initWithDisplay_excludingWindows(
                SCContentFilter::alloc(),
                &sc_display,
                &no_windows,
            )
        };
        let (pw, ph) = display.pixel_size();
        // SAFETY: plain property setters of a new configuration object, with values in their
        // documented ranges (width/height in pixels, a CoreVideo pixel format constant that
        // SCStreamConfiguration lists as supported, a valid CMTime, queueDepth 3..=8).
        let config = unsafe {
            let config = SCStreamConfiguration::new();
            config.setWidth(pw as usize);
            config.setHeight(ph as usize);
            config.setPixelFormat(kCVPixelFormatType_32BGRA);
            config.setShowsCursor(false);
            config.setMinimumFrameInterval(CMTime::new(1, 30));
            config.setQueueDepth(3);
            config
        };
        let shared = Arc::new(Shared::default());
        let output = StreamOutput::new(shared.clone());
        // SAFETY: a filter and configuration made above; the delegate is an object
        // conforming to SCStreamDelegate, kept alive by the capturer as long as the stream.
        let stream = unsafe {
            SCStream::initWithFilter_configuration_delegate(
                SCStream::alloc(),
                &filter,
                &config,
                Some(ProtocolObject::from_ref(&*output)),
            )
        };
        let queue = DispatchQueue::new("glance.screencapturekit.frames", None);
        // SAFETY: the output conforms to SCStreamOutput (its method runs on `queue`, a serial
        // queue, touching only thread-safe state) and is kept alive with the stream.
        unsafe {
            stream.addStreamOutput_type_sampleHandlerQueue_error(
                ProtocolObject::from_ref(&*output),
                SCStreamOutputType::Screen,
                Some(&queue),
            )
        }
        .map_err(|e| {
            let (code, text) = error_text(&e);
            map_error("adding the stream output", code, &text)
        })?;
        // SAFETY: startCaptureWithCompletionHandler: on a configured stream; the handler has
        // the declared signature `void (^)(NSError *error)`, and the framework copies it.
        let started = wait_completion("starting the stream", |h| unsafe {
            stream.startCaptureWithCompletionHandler(Some(h))
        });
        if let Err(e) = started {
            // A start that timed out may still complete later: stop it, without waiting.
            // SAFETY: stopCaptureWithCompletionHandler: accepts a nil handler (nullable in
            // SCStream.h) and is harmless on a stream that is not running.
            unsafe { stream.stopCaptureWithCompletionHandler(None) };
            return Err(e);
        }
        log::info!(
            "ScreenCaptureKit: capturing display {} at {pw}x{ph}",
            display.id
        );
        Ok(SckCapturer {
            stream,
            _output: output,
            _queue: queue,
            shared,
            display,
            taken: 0,
        })
    }

    fn stopped(&self) -> Option<String> {
        lock(&self.shared.stopped).clone()
    }
}

impl Capturer for SckCapturer {
    fn capture(&mut self, buf: &mut FrameBuf) -> Result<(), CaptureError> {
        let deadline = Instant::now() + FIRST_FRAME_TIMEOUT;
        let mut latest = lock(&self.shared.latest);
        // The first capture waits for the stream's first frame.
        while latest.frames == 0 && self.stopped().is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CaptureError::Capture(format!(
                    "ScreenCaptureKit sent no frame within {} s",
                    FIRST_FRAME_TIMEOUT.as_secs()
                )));
            }
            latest = self
                .shared
                .arrived
                .wait_timeout(latest, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if let Some(why) = self.stopped() {
            return Err(CaptureError::Capture(format!(
                "the ScreenCaptureKit stream stopped: {why}"
            )));
        }
        self.shared.fresh.store(false, Ordering::Release);
        let (w, h) = (
            u16::try_from(latest.width).unwrap_or(u16::MAX),
            u16::try_from(latest.height).unwrap_or(u16::MAX),
        );
        buf.reshape(w, h);
        let row = w as usize * 4;
        for (dst, src) in buf
            .data
            .chunks_exact_mut(buf.stride)
            .zip(latest.data.chunks_exact(latest.width * 4))
        {
            dst[..row].copy_from_slice(&src[..row]);
            for px in dst[..row].chunks_exact_mut(4) {
                px[3] = 0xFF;
            }
        }
        self.taken = latest.frames;
        Ok(())
    }

    fn may_have_changed(&mut self) -> bool {
        self.shared.fresh.load(Ordering::Acquire) || self.stopped().is_some()
    }
}

impl Drop for SckCapturer {
    fn drop(&mut self) {
        if self.stopped().is_some() {
            return;
        }
        // SAFETY: stopCaptureWithCompletionHandler: on a started stream; the handler has the
        // declared signature `void (^)(NSError *error)`. Waiting (bounded) keeps the output
        // object alive until the framework has let go of the stream.
        if let Err(e) = wait_completion("stopping the stream", |h| unsafe {
            self.stream.stopCaptureWithCompletionHandler(Some(h))
        }) {
            log::debug!("{e}");
        }
    }
}
