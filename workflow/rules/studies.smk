# The studies: one rule per study registered in prunebench.studies.registry (a module under
# src/prunebench/studies/, or a method's package under src/prunebench/methods/). Each study declares its
# inputs, outputs, report captions, options and targets; everything below is derived from that.
from prunebench.studies.registry import load_studies, write_captions

STUDIES = load_studies()
CAPTIONS = Path(".snakemake/prunebench/captions").resolve()
write_captions(STUDIES, CAPTIONS)


# one shell line for every study (a rule's shell: is read when its job runs, after the loop below is done,
# so it names no loop variable): prunebench.studies.registry.Study.command gives the same line per study
STUDY_SHELL = "prunebench analyze {params.kind} --in {params.inputs}{params.options} --out {params.outs} > {log} 2>&1"


def study_outputs(st):
    """The rule's outputs: a folder as directory(), a captioned file into the report."""
    out = {}
    for o in st.outputs:
        path = o.path()
        if o.folder == "dir":
            path = directory(path)
        elif o.caption:
            path = report(
                path, caption=str(st.caption_file(o, CAPTIONS)), category=o.category
            )
        out[o.key] = path
    return out


# studies that run torch work are timed (benchmark:); the others not
for st in (s for s in STUDIES if not s.benchmark):

    rule:
        name:
            st.rule
        input:
            unpack(lambda w, st=st: st.inputs(FILES, w)),
        output:
            **study_outputs(st),
        log:
            paths.log_path("study", study=st.log),
        localrule: st.local
        conda:
            f"../envs/{st.env}.yaml"
        params:
            kind=st.name,
            inputs=lambda w, input, st=st: st.inputs_arg.format(input=input),
            options=lambda w, st=st: st.options_arg(FILES, w),
            outs=lambda w, output, st=st: st.outputs_arg(output),
        shell:
            STUDY_SHELL


for st in (s for s in STUDIES if s.benchmark):

    rule:
        name:
            st.rule
        input:
            unpack(lambda w, st=st: st.inputs(FILES, w)),
        output:
            **study_outputs(st),
        log:
            paths.log_path("study", study=st.log),
        benchmark:
            paths.benchmark_path("study", study=st.log)
        localrule: st.local
        conda:
            f"../envs/{st.env}.yaml"
        params:
            kind=st.name,
            inputs=lambda w, input, st=st: st.inputs_arg.format(input=input),
            options=lambda w, st=st: st.options_arg(FILES, w),
            outs=lambda w, output, st=st: st.outputs_arg(output),
        shell:
            STUDY_SHELL
