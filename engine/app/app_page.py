"""The web app's page (Gradio >= 6): pick a model, drop photos or pick a bundled example, set the test-time
switches, press Enhance; each photo comes back as a before/after slider with its full-size PNG (the file
``eval.py`` writes), the time taken and the backend. Problems are messages in the page.

Offline by construction: no analytics, no share link, no assets from the internet (Gradio's own fonts,
no custom ones); Gradio's files and the results live in the ``AppWorkspace``.
"""
from pathlib import Path

import gradio as gr

from data.image_io import IMAGE_EXTENSIONS, PIXEL_LIMIT_VARIABLE, list_images, pixel_limit

from ..model_registry import ICLR_SPEC, MODELS, ZERO_LEINR_SPEC, get_model
from .app_workspace import AppWorkspace
from .photo_enhancement import CURVES, AppModels, PhotoResult, PhotoSettings, enhance_uploads

EXAMPLES = Path(__file__).resolve().parents[2] / "demo" / "LOLdataset" / "eval15" / "low"
CURVE_LABELS = {"adaptive": "Adaptive (chosen per photo)", "released": "Released (full strength)",
                "chosen": "Chosen strength per branch"}
INTRO = """# Low-light photo enhancement
Enhance dark photos with {models}, on this computer: nothing is uploaded anywhere, and
uploads and results are deleted when this page is closed. Each result is the file `python eval.py` writes.
Photos up to {limit:,} pixels (start the app with `{variable}=...` to raise it); large ones are enhanced in tiles."""
CSS = """
#status p { margin: 0.25em 0; }
.result-caption p { margin: 0; color: var(--body-text-color-subdued); }
"""


def _caption(photo: PhotoResult) -> str:
    height, width = photo.size
    return (f"**{photo.name}** · {width}×{height} · enhanced in {photo.seconds:.2f} s · "
            f"backend {photo.backend}")


def _status(results: list[PhotoResult], errors: list[str]) -> str:
    lines = [f"⚠️ {error}" for error in errors]
    if results:
        lines.append(f"Enhanced {len(results)} photo{'s' if len(results) > 1 else ''}; "
                     f"move the slider to compare, and download the full-size PNG below each.")
    return "\n\n".join(lines)


def _iclr_controls(default: PhotoSettings) -> list[gr.Component]:
    """ICLR's sliders: [saturation gain, alpha]."""
    return [gr.Slider(0.5, 2.0, value=default.saturation_gain, step=0.01,
                      label="Saturation gain (1.0 = off; eval.py --lol_v1 uses 1.3)"),
            gr.Slider(0.5, 1.5, value=default.alpha, step=0.01,
                      label="Alpha, output scale (1.0 = off; eval.py --lol_v2_real uses 0.84)")]


def _zero_leinr_controls(default: PhotoSettings) -> list[gr.Component]:
    """Zero-LEINR's curve strength, with a slider per branch shown for a chosen one, and its output shown:
    [curves, branch 1 strength, branch 2 strength, output]."""
    outputs = ZERO_LEINR_SPEC.outputs
    curves = gr.Radio([(CURVE_LABELS[c], c) for c in CURVES], value=default.curves, label="Curve strength")
    with gr.Row(visible=default.curves == "chosen") as strength_row:
        strength_1 = gr.Slider(0.0, 1.0, value=default.strength[0], step=0.05, label="Branch 1")
        strength_2 = gr.Slider(0.0, 1.0, value=default.strength[1], step=0.05, label="Branch 2")
    output = gr.Radio(list(reversed(outputs.names)), value=outputs.main,
                      label="Output (denoised: the result; fused: before denoising)")
    curves.change(lambda c: gr.update(visible=c == "chosen"), curves, strength_row, show_progress="hidden")
    return [curves, strength_1, strength_2, output]


# Each model's own controls, shown while it is chosen; together, in this order, the values of PhotoSettings
# after ``model``.
MODEL_CONTROLS = {ICLR_SPEC: _iclr_controls, ZERO_LEINR_SPEC: _zero_leinr_controls}


def build_page(models: AppModels, workspace: AppWorkspace) -> gr.Blocks:
    """The page for ``models``, its results in ``workspace``. Gradio reads ``GRADIO_TEMP_DIR`` when it is
    imported: set to ``workspace.root`` then (``app_command`` does), all of Gradio's files (uploads, its
    cache) are in the workspace too, and the results are served from there without a copy."""
    default = PhotoSettings()
    with gr.Blocks(title="Low-light photo enhancement", analytics_enabled=False) as page:
        gr.Markdown(INTRO.format(models=" or ".join(f"**{spec.label}**" for spec in MODELS.values()),
                                 limit=pixel_limit(), variable=PIXEL_LIMIT_VARIABLE))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                model = gr.Radio([(spec.label, spec.name) for spec in MODELS.values()], value=default.model,
                                 label="Model")
                photos = gr.File(label="Photos", file_count="multiple", file_types=sorted(IMAGE_EXTENSIONS),
                                 elem_id="photos")
                examples = gr.Gallery([str(path) for path in list_images(EXAMPLES)], label="Or click an example",
                                      columns=4, height=140, object_fit="cover", allow_preview=False,
                                      interactive=False, elem_id="examples")
                boxes, controls = {}, []
                for spec, build_controls in MODEL_CONTROLS.items():
                    with gr.Group(visible=spec.name == default.model) as boxes[spec.name]:
                        controls += build_controls(default)
                enhance = gr.Button("Enhance", variant="primary", elem_id="enhance")
            with gr.Column(scale=3, min_width=400):
                status = gr.Markdown(elem_id="status")
                results = gr.State([])

                @gr.render(inputs=results)
                def show(photos: list[PhotoResult]):
                    for photo in photos:
                        with gr.Group():
                            gr.ImageSlider((str(photo.before), str(photo.after)), type="filepath",
                                           label=f"{photo.name}: before / after", interactive=False,
                                           buttons=["fullscreen"])
                            with gr.Row(equal_height=True):
                                gr.Markdown(_caption(photo), elem_classes="result-caption")
                                gr.DownloadButton(f"Download {photo.download.name}", value=str(photo.download),
                                                  variant="secondary", size="md", scale=0, min_width=220)

        model.change(lambda name: [gr.update(visible=box_model == name) for box_model in boxes], model,
                     list(boxes.values()), show_progress="hidden")

        def use_example(event: gr.SelectData) -> list[str]:
            path = event.value["image"]["path"]  # Gradio's copy of the example, shown to every session
            workspace.keep(Path(path))
            return [path]

        examples.select(use_example, None, photos, show_progress="hidden")

        def run(files, model_name, saturation_gain, alpha_value, curve_mode, s1, s2, output_name,
                request: gr.Request, progress=gr.Progress(track_tqdm=True)):
            uploads = [Path(f) for f in files or []]
            spec = get_model(model_name)
            settings = PhotoSettings(model_name, saturation_gain, alpha_value, curve_mode, (s1, s2),
                                     output_name if output_name in spec.outputs.names else None)  # the model's own
            progress(0, desc=f"Enhancing with {spec.label}")
            folder = workspace.request_folder(request.session_hash, uploads)
            photos, errors = enhance_uploads(models, settings, uploads, folder, note=gr.Info)
            return photos, _status(photos, errors)

        enhance.click(run, [photos, model, *controls],
                      [results, status], show_progress_on=status)

        def end_session(request: gr.Request):
            workspace.end_session(request.session_hash)

        page.unload(end_session)
    return page


def serve(models: AppModels, workspace: AppWorkspace, host: str, port: int) -> gr.Blocks:
    """Start the page on ``host``:``port`` in the background (one request at a time, offline: no share link,
    no server-side rendering, no analytics) -> the running page (``block_thread`` waits for Ctrl-C).
    Raises ``OSError`` when the port cannot be used."""
    page = build_page(models, workspace).queue(default_concurrency_limit=1)
    page.launch(server_name=host, server_port=port, share=False, ssr_mode=False, pwa=False, mcp_server=False,
                enable_monitoring=False, footer_links=[], quiet=True, prevent_thread_lock=True, css=CSS,
                theme=gr.themes.Default(primary_hue="indigo"))
    return page
