"""The ``SampleData`` module as extensions use it: registering a source and its button.

Sources are kept in ``slicer.modules.sampleDataSources`` by category, as Slicer keeps them;
``registerCustomSampleDataCategory`` exists only when emulating Slicer 5.12 or later.
``SlicerSession.click_sample(name)`` does what the sample's button does in the Sample Data
module: call the source's ``customDownloader`` with the source (an exception is reported as
from any slot). Nothing is ever downloaded: a source without a custom downloader fails.
"""

from __future__ import annotations

import types
from typing import Any

from . import runtime


class SampleDataSource:
    def __init__(self, sampleName: str | None = None, sampleDescription: str | None = None, uris: Any = None,
                 fileNames: Any = None, nodeNames: Any = None, checksums: Any = None, loadFiles: Any = None,
                 customDownloader: Any = None, thumbnailFileName: str | None = None, loadFileTypes: Any = None,
                 loadFileProperties: dict | None = None) -> None:
        self.sampleName = sampleName
        self.sampleDescription = sampleDescription or sampleName
        self.uris, self.fileNames, self.nodeNames, self.checksums = uris, fileNames, nodeNames, checksums
        self.loadFiles, self.loadFileTypes, self.loadFileProperties = loadFiles, loadFileTypes, loadFileProperties or {}
        self.customDownloader = customDownloader
        self.thumbnailFileName = thumbnailFileName


def build_sample_data(session: Any) -> types.ModuleType:
    module = types.ModuleType("SampleData", __doc__)
    modules = session.slicer.modules
    modules.sampleDataSources = {}

    class SampleDataLogic:
        @staticmethod
        def registerCustomSampleDataSource(category: str = "Custom", sampleName: str | None = None, uris: Any = None,
                                           fileNames: Any = None, nodeNames: Any = None, customDownloader: Any = None,
                                           thumbnailFileName: str | None = None, loadFileTypes: Any = None,
                                           loadFiles: Any = None, loadFileProperties: dict | None = None,
                                           checksums: Any = None, loadFileType: Any = None) -> None:
            source = SampleDataSource(sampleName=sampleName, uris=uris, fileNames=fileNames, nodeNames=nodeNames,
                                      checksums=checksums, loadFiles=loadFiles, customDownloader=customDownloader,
                                      thumbnailFileName=thumbnailFileName,
                                      loadFileTypes=loadFileTypes or loadFileType,
                                      loadFileProperties=loadFileProperties)
            sources = modules.sampleDataSources.setdefault(category, [])
            if all(existing.sampleName != sampleName for existing in sources):
                sources.append(source)

        @staticmethod
        def sampleDataSourcesByCategory(category: str | None = None) -> Any:
            return modules.sampleDataSources if category is None else modules.sampleDataSources.get(category, [])

        def sourceForSampleName(self, sampleName: str) -> SampleDataSource | None:
            for sources in modules.sampleDataSources.values():
                for source in sources:
                    if source.sampleName == sampleName:
                        return source
            return None

        def categoryForSource(self, wanted: SampleDataSource) -> str | None:
            for category, sources in modules.sampleDataSources.items():
                if wanted in sources:
                    return category
            return None

        def downloadFromSource(self, source: SampleDataSource, *args: Any, **kwargs: Any) -> list[Any]:
            if source.customDownloader is None:
                raise RuntimeError("the stand-in Sample Data module downloads nothing")
            return source.customDownloader(source) or []

        def downloadSample(self, sampleName: str) -> Any:
            return self.downloadFromSource(self.sourceForSampleName(sampleName))

    if runtime.current().version >= (5, 12):
        def registerCustomSampleDataCategory(category: str, title: str) -> None:
            if not hasattr(modules, "sampleDataSourceCategories"):
                modules.sampleDataSourceCategories = {}
            modules.sampleDataSourceCategories.setdefault(category, {})["title"] = title

        SampleDataLogic.registerCustomSampleDataCategory = staticmethod(registerCustomSampleDataCategory)

    module.SampleDataLogic = SampleDataLogic
    module.SampleDataSource = SampleDataSource
    return module
