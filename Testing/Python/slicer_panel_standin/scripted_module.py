"""``slicer.ScriptedLoadableModule``: the base classes a scripted module derives from.

They behave as Slicer's do where a module relies on it: the widget takes its layout from the
module panel it is given (``self.parent``, whose ``isEntered`` says whether the user is in the
module), finds ``Resources/`` next to the module file, and has ``cleanup()`` called when the
module manager unloads the module (application exit); the logic keeps one
``vtkMRMLScriptedModuleNode`` per module as a singleton of the real scene; a self-test class is a
``unittest.TestCase`` whose ``delayDisplay`` only pumps events. There is no developer section
(Reload and Test).
"""

from __future__ import annotations

import importlib
import logging
import os
import unittest
from typing import Any

__all__ = ["ScriptedLoadableModule", "ScriptedLoadableModuleWidget", "ScriptedLoadableModuleLogic",
           "ScriptedLoadableModuleTest"]


def _slicer() -> Any:
    import slicer  # the stand-in while a session is installed

    return slicer


class ScriptedLoadableModule:
    def __init__(self, parent: Any) -> None:
        self.parent = parent
        self.moduleName = self.__class__.__name__
        parent.title = ""
        parent.categories = []
        parent.dependencies = []
        parent.contributors = []
        parent.helpText = ""
        parent.acknowledgementText = ""
        slicer = _slicer()
        if not hasattr(slicer, "selfTests"):
            slicer.selfTests = {}
        slicer.selfTests[self.moduleName] = self.runTest

    def resourcePath(self, filename: str) -> str:
        return os.path.join(os.path.dirname(self.parent.path), "Resources", filename)

    def runTest(self, msec: int = 100, **kwargs: Any) -> None:
        module = importlib.import_module(self.__module__)
        testCase = getattr(module, self.moduleName + "Test")()
        testCase.messageDelay = msec
        testCase.runTest(**kwargs)


class ScriptedLoadableModuleWidget:
    def __init__(self, parent: Any = None) -> None:
        slicer = _slicer()
        self.moduleName = self.__class__.__name__.removesuffix("Widget")
        self.developerMode = False
        if parent is None:
            parent = slicer.qMRMLWidget()
            parent.setLayout(_qt().QVBoxLayout())
            parent.setMRMLScene(slicer.mrmlScene)
        self.parent = parent
        self.layout = self.parent.layout()
        slicer.app.moduleManager().connect("moduleAboutToBeUnloaded(QString)", self._onModuleAboutToBeUnloaded)

    def resourcePath(self, filename: str) -> str:
        modulePath = _slicer().util.modulePath(self.moduleName)
        return os.path.join(os.path.dirname(modulePath), "Resources", filename)

    def setup(self) -> None:
        pass

    def cleanup(self) -> None:
        pass

    def _onModuleAboutToBeUnloaded(self, moduleName: str) -> None:
        if moduleName == self.moduleName:
            self.cleanup()
            _slicer().app.moduleManager().disconnect("moduleAboutToBeUnloaded(QString)",
                                                     self._onModuleAboutToBeUnloaded)


def _qt() -> Any:
    import qt

    return qt


class ScriptedLoadableModuleLogic:
    def __init__(self, parent: Any = None) -> None:
        self.moduleName = self.__class__.__name__.removesuffix("Logic")
        self.isSingletonParameterNode = True

    def getParameterNode(self) -> Any:
        scene = _slicer().mrmlScene
        if self.isSingletonParameterNode:
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node is not None:
                if node.GetAttribute("ModuleName") != self.moduleName:  # a scene close resets it
                    node.SetAttribute("ModuleName", self.moduleName)
                return node
        else:
            for node in self.getAllParameterNodes():
                return node
        return scene.AddNode(self.createParameterNode())

    def getAllParameterNodes(self) -> list[Any]:
        scene = _slicer().mrmlScene
        nodes = [scene.GetNthNodeByClass(index, "vtkMRMLScriptedModuleNode")
                 for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode"))]
        return [node for node in nodes if node.GetAttribute("ModuleName") == self.moduleName]

    def createParameterNode(self) -> Any:
        scene = _slicer().mrmlScene
        node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(scene.GenerateUniqueName(self.moduleName))
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moduleTestNames = [name for name in dir(self) if "test" in name and callable(getattr(self, name))]

    def delayDisplay(self, message: str, requestedDelay: int | None = None, msec: int | None = None) -> None:
        msec = getattr(self, "messageDelay", None) or msec or requestedDelay or 100
        _slicer().util.delayDisplay(message, msec)

    def takeScreenshot(self, name: str, description: str, type: int = -1) -> None:
        self.delayDisplay(description)

    def runTest(self) -> None:
        for name in self.moduleTestNames:
            self.setUp()
            logging.info("Running %s", name)
            getattr(self, name)()
            self.tearDown()
