/**
 * Spectral analysis of adapters: {@link dev.jlora.engine.analysis.AdapterAnalysis} (singular values of ΔW,
 * effective rank, energy rank, relative norm, intruder dimensions) and
 * {@link dev.jlora.engine.analysis.SpectrumReport} (Markdown table and SVG plot, drawn with
 * {@link dev.jlora.engine.plot.SvgChart}).
 */
package dev.jlora.engine.analysis;
